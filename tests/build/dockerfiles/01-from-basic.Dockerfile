FROM busybox
RUN echo hello
