FROM busybox
COPY --exclude=*.tmp --exclude=*.log context/dir/ /dst/
COPY --parents context/dir/a.txt /keep/
