# The coworking bot: `docker compose up -d` (see compose.yaml) or
#   docker build -t coworkbot . && docker run --env-file .env -v coworkbot:/data coworkbot
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY chatbot ./chatbot
COPY locales ./locales
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.12-slim
RUN useradd --create-home --uid 10001 bot && mkdir /data && chown bot /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && python -c "from chatbot.i18n import locales_dir; print(locales_dir())"
USER bot
WORKDIR /data
ENV CHATBOT_DATABASE_URL=sqlite:////data/chatbot.db \
    PYTHONUNBUFFERED=1
VOLUME ["/data"]
HEALTHCHECK --interval=60s --timeout=10s --start-period=60s --retries=3 \
    CMD ["chatbot", "health"]
STOPSIGNAL SIGTERM
CMD ["chatbot", "run"]
