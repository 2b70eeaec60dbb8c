FROM busybox
ARG A=1 B C="x y" D=$A
RUN echo "$A $B $C $D"
