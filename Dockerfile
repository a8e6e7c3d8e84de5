# Paper-trading bot image: non-root user, data and logs as volumes.
#   docker build -t paperbot .
#   docker run -d --name paperbot --env-file .env -v paperbot-data:/app/data \
#       -v paperbot-logs:/app/logs paperbot --exchange testnet
#   docker logs -f paperbot        (console)   docker exec paperbot tail -f logs/trading.log
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN useradd --create-home --uid 10001 paperbot && mkdir -p data logs \
    && chown -R paperbot:paperbot /app/data /app/logs
USER paperbot
VOLUME ["/app/data", "/app/logs"]
# docker stop sends SIGTERM: the bot saves its state and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["python", "main.py"]
CMD ["--exchange", "local", "--speed", "60"]
