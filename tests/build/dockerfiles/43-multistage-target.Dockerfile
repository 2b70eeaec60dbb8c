FROM busybox AS base
RUN echo base > /base
FROM base AS deps
RUN echo deps > /deps
FROM busybox AS unrelated
RUN echo unrelated
FROM base AS test
COPY --from=deps /deps /deps
RUN --mount=type=bind,from=unrelated,target=/u true
FROM base AS final
COPY --from=deps /deps /deps
