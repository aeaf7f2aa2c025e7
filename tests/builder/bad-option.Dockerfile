FROM scratch

RUN --mount=type=cache,target=/a \
    --mount=type=cache,target=/b,colour=blue \
    true
