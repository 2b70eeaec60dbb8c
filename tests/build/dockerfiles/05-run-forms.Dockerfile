FROM busybox
RUN echo shell form
RUN ["echo", "exec form"]
RUN [echo, not json]
RUN ["echo", "trailing"] junk
