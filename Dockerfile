# The bridge alone; Redis, DynamoDB and OpenSearch come from docker-compose.yml (or your cloud).
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY config ./config
ENV NODE_ENV=production
EXPOSE 1883 8080
USER node
CMD ["node_modules/.bin/tsx", "src/main.ts", "--config", "config/docker.yaml"]
