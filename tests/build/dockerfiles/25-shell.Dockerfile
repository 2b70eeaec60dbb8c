FROM busybox
SHELL ["/bin/sh", "-ec"]
RUN echo with the new shell
