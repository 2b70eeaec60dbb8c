ARG A=1
RUN echo no stage
