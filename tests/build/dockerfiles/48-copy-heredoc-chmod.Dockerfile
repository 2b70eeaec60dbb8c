FROM busybox
COPY --chmod=755 <<"EOF" /entrypoint.sh
#!/bin/sh
exec "$@"
EOF
ENTRYPOINT ["/entrypoint.sh"]
