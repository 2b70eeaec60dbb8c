FROM busybox
ENV LEGACY value with   spaces
ENV A=1 B="two words" C=three\ words D=
ENV E=$A-${B} F='$A' G="$A" H=\$A
ENV PATH=/opt/bin:$PATH
