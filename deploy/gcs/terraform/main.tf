# Bucket notifications -> Pub/Sub for sceneline's streaming pipeline: the topic the bucket
# publishes OBJECT_FINALIZE / OBJECT_DELETE events to, the subscription the pipeline reads, and a
# dead-letter topic (with its own subscription, so nothing that failed is lost) for messages
# that keep failing.

data "google_project" "this" {
  project_id = var.project
}

# The Cloud Storage service agent publishes the notifications.
data "google_storage_project_service_account" "gcs" {
  project = var.project
}

locals {
  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

resource "google_pubsub_topic" "uploads" {
  project = var.project
  name    = var.name
}

resource "google_pubsub_topic" "dead_letter" {
  project = var.project
  name    = "${var.name}-dead-letter"
}

resource "google_pubsub_subscription" "uploads" {
  project              = var.project
  name                 = "${var.name}-sceneline"
  topic                = google_pubsub_topic.uploads.id
  ack_deadline_seconds = var.ack_deadline_seconds

  # Keep a week of unread events, so a stopped pipeline picks up where it left off.
  message_retention_duration = "604800s"

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = "" # never expires
  }
}

resource "google_pubsub_subscription" "dead_letter" {
  project                    = var.project
  name                       = "${var.name}-dead-letter-keep"
  topic                      = google_pubsub_topic.dead_letter.id
  message_retention_duration = "604800s"

  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_topic_iam_member" "gcs_publishes_uploads" {
  project = var.project
  topic   = google_pubsub_topic.uploads.id
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
}

# Pub/Sub's own service agent moves undeliverable messages: it publishes to the dead-letter
# topic and acknowledges them on the source subscription.
resource "google_pubsub_topic_iam_member" "pubsub_publishes_dead_letters" {
  project = var.project
  topic   = google_pubsub_topic.dead_letter.id
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "pubsub_forwards_dead_letters" {
  project      = var.project
  subscription = google_pubsub_subscription.uploads.id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "pipeline_reads" {
  count        = var.pipeline_service_account == "" ? 0 : 1
  project      = var.project
  subscription = google_pubsub_subscription.uploads.id
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${var.pipeline_service_account}"
}

resource "google_storage_notification" "uploads" {
  bucket             = var.bucket
  payload_format     = "JSON_API_V1"
  topic              = google_pubsub_topic.uploads.id
  event_types        = ["OBJECT_FINALIZE", "OBJECT_DELETE"]
  object_name_prefix = var.object_name_prefix == "" ? null : var.object_name_prefix

  # The service agent must be allowed to publish before the notification is created.
  depends_on = [google_pubsub_topic_iam_member.gcs_publishes_uploads]
}
