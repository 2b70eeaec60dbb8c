FROM busybox
ARG CACHE_ID=build-cache
RUN --mount=type=cache,target=/cache,id=$CACHE_ID,sharing=locked,mode=0755,uid=1000,gid=1000 \
    touch /cache/x
