FROM busybox AS builder
RUN mkdir /out && echo built > /out/file
FROM busybox
RUN --mount=type=bind,from=builder,source=/out,target=/in,rw cat /in/file
RUN --mount=from=busybox:latest,src=/bin,dst=/b ls /b
