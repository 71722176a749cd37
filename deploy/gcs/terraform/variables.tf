variable "project" {
  description = "Google Cloud project that holds the bucket and the topics."
  type        = string
}

variable "bucket" {
  description = "Bucket whose uploads and deletions sceneline indexes (name only, no gs://)."
  type        = string
}

variable "name" {
  description = "Prefix of the topic and subscription names."
  type        = string
  default     = "sceneline-uploads"
}

variable "object_name_prefix" {
  description = "Only objects under this prefix notify (empty: the whole bucket)."
  type        = string
  default     = ""
}

variable "ack_deadline_seconds" {
  description = "How long a worker may hold a message before Pub/Sub redelivers it (a long video takes a while)."
  type        = number
  default     = 600
}

variable "max_delivery_attempts" {
  description = "Deliveries before a message goes to the dead-letter topic (5 to 100)."
  type        = number
  default     = 5

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "Pub/Sub allows 5 to 100 delivery attempts."
  }
}

variable "pipeline_service_account" {
  description = "Service account the pipeline's workers run as (subscribes to the subscription); empty to grant nothing."
  type        = string
  default     = ""
}
