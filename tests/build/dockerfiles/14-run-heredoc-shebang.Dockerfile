FROM busybox
RUN <<EOF
#!/bin/sh
echo script with shebang
EOF
