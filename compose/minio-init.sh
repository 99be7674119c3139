#!/bin/sh
# compose/minio-init.sh: one-shot setup of the compose stack's MinIO, run by the
# `minio-init` service (minio/mc image) with the seed's environment.
#
# Steps (each idempotent, so `docker compose up` may run it again):
#   1. wait until MinIO answers (mc alias set + mc ls, up to 120 s);
#   2. create the buckets S3_BUCKET_UPLOADS and S3_BUCKET_REPORTS (mc mb --ignore-existing);
#   3. configure the AMQP notification target `celeriac`: RabbitMQ of the seed, exchange
#      celeriac.s3events (direct, durable), routing key s3.events, persistent messages;
#      restart MinIO to apply it and wait again;
#   4. publish ObjectCreated (mc --event put) of the uploads bucket to that target.
# References: https://min.io/docs/minio/linux/administration/monitoring/publish-events-to-amqp.html
# (notify_amqp keys, the arn:minio:sqs::<ID>:amqp target), mc event add.
#
# Not done here: consuming the events (a worker started with CELERIAC_EVENTS_QUEUE does),
# bucket policies, lifecycle rules.
set -eu

: "${S3_SCHEME:=http}" "${S3_HOST:=minio}" "${S3_PORT:=9000}"
: "${S3_ACCESS_KEY:?}" "${S3_SECRET_KEY:?}"
: "${S3_BUCKET_UPLOADS:=uploads}" "${S3_BUCKET_REPORTS:=reports}"
: "${RABBITMQ_USER:?}" "${RABBITMQ_PASSWORD:?}" "${RABBITMQ_HOST:=rabbitmq}" "${RABBITMQ_PORT:=5673}"
EXCHANGE=${CELERIAC_S3_EVENTS_EXCHANGE:-celeriac.s3events}
ROUTING_KEY=${CELERIAC_S3_EVENTS_ROUTING_KEY:-s3.events}
TARGET=celeriac
ENDPOINT="$S3_SCHEME://$S3_HOST:$S3_PORT"

wait_ready() {
    i=0
    until mc alias set local "$ENDPOINT" "$S3_ACCESS_KEY" "$S3_SECRET_KEY" >/dev/null 2>&1 &&
        mc ls local >/dev/null 2>&1; do
        i=$((i + 1))
        if [ "$i" -ge 120 ]; then
            echo "minio-init: MinIO at $ENDPOINT did not answer within 120 s" >&2
            exit 1
        fi
        sleep 1
    done
}

wait_ready
mc mb --ignore-existing "local/$S3_BUCKET_UPLOADS" "local/$S3_BUCKET_REPORTS"

# No vhost path: "/" is the default vhost (a trailing "/" would mean the empty vhost).
mc admin config set local "notify_amqp:$TARGET" \
    url="amqp://$RABBITMQ_USER:$RABBITMQ_PASSWORD@$RABBITMQ_HOST:$RABBITMQ_PORT" \
    exchange="$EXCHANGE" exchange_type=direct routing_key="$ROUTING_KEY" \
    durable=on delivery_mode=2 mandatory=off
mc admin service restart local
sleep 2
wait_ready

ARN="arn:minio:sqs::$TARGET:amqp"
if mc event ls "local/$S3_BUCKET_UPLOADS" "$ARN" 2>/dev/null | grep -q "$ARN"; then
    echo "minio-init: ObjectCreated events of $S3_BUCKET_UPLOADS already go to $ARN"
else
    mc event add "local/$S3_BUCKET_UPLOADS" "$ARN" --event put
fi
echo "minio-init: buckets $S3_BUCKET_UPLOADS, $S3_BUCKET_REPORTS; events -> $EXCHANGE/$ROUTING_KEY"
