FROM scratch
RUN --mount type=cache,target=/a true
