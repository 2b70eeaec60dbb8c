FROM busybox
ARG X=from-arg
ENV X=from-env
RUN echo $X
ENV Y=from-env
ARG Y=from-arg
RUN echo $Y
