FROM busybox
RUN --chown=1:1 true
