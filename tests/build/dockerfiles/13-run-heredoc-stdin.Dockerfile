FROM busybox
RUN sh -e <<EOF
echo from stdin
EOF
RUN cat <<'EOF' > /literal.txt
$HOME stays
EOF
