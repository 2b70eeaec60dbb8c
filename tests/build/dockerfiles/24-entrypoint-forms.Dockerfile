FROM busybox
ENTRYPOINT ["/bin/echo", "hi"]
ENTRYPOINT exec top -b
