output "subscription" {
  description = "Pass to the streaming pipeline: sceneline launch dataflow --subscription ..."
  value       = google_pubsub_subscription.uploads.id
}

output "topic" {
  value = google_pubsub_topic.uploads.id
}

output "dead_letter_topic" {
  value = google_pubsub_topic.dead_letter.id
}

output "dead_letter_subscription" {
  description = "Read what failed delivery max_delivery_attempts times."
  value       = google_pubsub_subscription.dead_letter.id
}
