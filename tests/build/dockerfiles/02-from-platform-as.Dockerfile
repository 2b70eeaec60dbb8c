FROM --platform=$BUILDPLATFORM busybox:latest AS Build
RUN echo building on $BUILDPLATFORM
FROM --platform=linux/amd64 busybox
COPY --from=build /etc/hostname /from-build
