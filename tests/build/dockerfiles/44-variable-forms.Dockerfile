FROM busybox
ARG SET=value
ARG EMPTY=
ENV A=${SET:-default} B=${UNSET:-default} C=${EMPTY:-default} D=${EMPTY-default}
ENV E=${SET:+alt} F=${UNSET:+alt} G=${EMPTY+alt} H=${EMPTY:+alt}
ENV I=${SET?} J=$SET$SET K=${SET}x L=$ M=\${SET}
