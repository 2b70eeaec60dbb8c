FROM busybox
ARG S=base
RUN --mount=from=$S,target=/x true
