FROM scratch
RUN true
FROBNICATE /x
