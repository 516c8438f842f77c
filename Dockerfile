# syntax=docker/dockerfile:1
#
# studybot in a container. The builder stage compiles the binary (it needs only the Rust
# toolchain and a C compiler, both in the rust image); the runtime stage holds the binary, the
# default settings and the shipped text, and runs as an unprivileged user.
#
#   docker build -t studybot .
#   docker run --rm studybot check                                  # set-up report
#   docker run -d --name studybot --restart unless-stopped \
#       -e TELOXIDE_TOKEN=123456789:AA... -v studybot-data:/data studybot
#
# Your own texts: mount a folder of .txt/.md files (and an optional quiz/ folder) over
# /corpus, e.g. `-v "$PWD/texts:/corpus:ro"`. Your own settings: mount a TOML file over
# /app/config/local.toml. State (scores, quizzes, caches) lives in the /data volume.
# compose.yaml does all of this.

FROM rust:1-slim-bookworm AS builder
WORKDIR /src
COPY . .
# The registry and target caches survive between builds (BuildKit); the binary is copied out
# of the cache in the same step, since cache mounts are not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin studybot \
    && install -m 0755 target/release/studybot /usr/local/bin/studybot

FROM debian:bookworm-slim
# TLS uses rustls with its own root certificates: no OpenSSL, no ca-certificates needed.
RUN useradd --system --uid 10001 --user-group --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin studybot \
    && mkdir -p /data /app/config \
    && chown studybot:studybot /data
COPY --from=builder /usr/local/bin/studybot /usr/local/bin/studybot
COPY config/default.toml /app/config/default.toml
COPY corpus/ /corpus/
COPY LICENSE THIRD_PARTY.md /usr/share/doc/studybot/
COPY assets/model/LICENSE assets/model/README.md /usr/share/doc/studybot/model/
COPY assets/wordnet/*.COPYRIGHT /usr/share/doc/studybot/wordnet/
COPY assets/words/*.COPYRIGHT /usr/share/doc/studybot/words/
WORKDIR /app
ENV STUDYBOT__DATA_DIR=/data \
    STUDYBOT__CORPUS__DIR=/corpus
VOLUME /data
USER studybot:studybot
# SIGTERM (docker stop) stops the bot cleanly; a running quiz resumes at the next start.
ENTRYPOINT ["studybot"]
CMD ["bot"]
