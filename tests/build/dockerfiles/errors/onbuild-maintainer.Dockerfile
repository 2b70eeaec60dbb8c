FROM busybox
onbuild maintainer me
