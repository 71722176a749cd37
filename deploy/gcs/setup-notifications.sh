#!/usr/bin/env bash
# Bucket notifications -> Pub/Sub for sceneline's streaming pipeline, with gcloud (the same
# resources as terraform/, for those who do not use Terraform).
#
#   PROJECT=my-project BUCKET=my-media-bucket deploy/gcs/setup-notifications.sh
#
# Creates: topic NAME, subscription NAME-sceneline (ack deadline 600 s, dead letters after
# MAX_DELIVERY_ATTEMPTS), dead-letter topic NAME-dead-letter with a subscription that keeps them,
# the bucket notification (OBJECT_FINALIZE, OBJECT_DELETE; JSON payload), and the IAM bindings
# the Cloud Storage and Pub/Sub service agents need. Prints the subscription to launch with.
set -euo pipefail

: "${PROJECT:?set PROJECT}"
: "${BUCKET:?set BUCKET (name only, no gs://)}"
NAME="${NAME:-sceneline-uploads}"
ACK_DEADLINE="${ACK_DEADLINE:-600}"
MAX_DELIVERY_ATTEMPTS="${MAX_DELIVERY_ATTEMPTS:-5}"
OBJECT_PREFIX="${OBJECT_PREFIX:-}"
PIPELINE_SERVICE_ACCOUNT="${PIPELINE_SERVICE_ACCOUNT:-}"

project_number="$(gcloud projects describe "$PROJECT" --format='value(projectNumber)')"
pubsub_agent="serviceAccount:service-${project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"
gcs_agent="serviceAccount:$(gcloud storage service-agent --project="$PROJECT")"

gcloud pubsub topics create "$NAME" --project="$PROJECT"
gcloud pubsub topics create "$NAME-dead-letter" --project="$PROJECT"
gcloud pubsub subscriptions create "$NAME-dead-letter-keep" --project="$PROJECT" \
  --topic="$NAME-dead-letter" --message-retention-duration=7d --expiration-period=never
gcloud pubsub subscriptions create "$NAME-sceneline" --project="$PROJECT" \
  --topic="$NAME" --ack-deadline="$ACK_DEADLINE" --message-retention-duration=7d \
  --expiration-period=never --min-retry-delay=10s --max-retry-delay=600s \
  --dead-letter-topic="$NAME-dead-letter" --max-delivery-attempts="$MAX_DELIVERY_ATTEMPTS"

# The Cloud Storage service agent publishes the notifications.
gcloud pubsub topics add-iam-policy-binding "$NAME" --project="$PROJECT" \
  --member="$gcs_agent" --role=roles/pubsub.publisher
# Pub/Sub's service agent moves undeliverable messages to the dead-letter topic.
gcloud pubsub topics add-iam-policy-binding "$NAME-dead-letter" --project="$PROJECT" \
  --member="$pubsub_agent" --role=roles/pubsub.publisher
gcloud pubsub subscriptions add-iam-policy-binding "$NAME-sceneline" --project="$PROJECT" \
  --member="$pubsub_agent" --role=roles/pubsub.subscriber
if [[ -n "$PIPELINE_SERVICE_ACCOUNT" ]]; then
  gcloud pubsub subscriptions add-iam-policy-binding "$NAME-sceneline" --project="$PROJECT" \
    --member="serviceAccount:$PIPELINE_SERVICE_ACCOUNT" --role=roles/pubsub.subscriber
fi

prefix_flag=()
[[ -n "$OBJECT_PREFIX" ]] && prefix_flag=(--object-prefix="$OBJECT_PREFIX")
gcloud storage buckets notifications create "gs://$BUCKET" --project="$PROJECT" \
  --topic="projects/$PROJECT/topics/$NAME" --payload-format=json \
  --event-types=OBJECT_FINALIZE,OBJECT_DELETE "${prefix_flag[@]}"

echo "subscription: projects/$PROJECT/subscriptions/$NAME-sceneline"
