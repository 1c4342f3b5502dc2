variable "name" {
  description = "Prefix of every resource name."
  type        = string
  default     = "bpo"
}

variable "environment" {
  description = "Deployment name, e.g. prod or staging; part of every resource name."
  type        = string
}

variable "region" {
  description = "AWS region."
  type        = string
  default     = "ap-northeast-1"
}

variable "image" {
  description = "The one container image of every process (api, worker, scheduler, migrate), e.g. <account>.dkr.ecr.<region>.amazonaws.com/bpo-ops@sha256:…"
  type        = string
}

# --- network ---------------------------------------------------------------------------------

variable "vpc_cidr" {
  description = "Address range of the VPC; public, application and data subnets are /20s carved from it."
  type        = string
  default     = "10.40.0.0/16"
}

variable "availability_zones" {
  description = "How many availability zones to spread subnets, tasks and replicas over (2 or 3)."
  type        = number
  default     = 3

  validation {
    condition     = var.availability_zones >= 2 && var.availability_zones <= 3
    error_message = "Multi-AZ needs 2 or 3 availability zones."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones (cheaper, not zone-redundant) instead of one per zone."
  type        = bool
  default     = false
}

# --- HTTPS -----------------------------------------------------------------------------------

variable "certificate_arn" {
  description = "ACM certificate for the load balancer's HTTPS listener (the API's host name)."
  type        = string
}

variable "api_domain" {
  description = "Host name the API is served at (the certificate's); used in outputs only."
  type        = string
  default     = ""
}

# --- PostgreSQL ------------------------------------------------------------------------------

variable "db_engine_version" {
  description = "RDS for PostgreSQL major version (the parameter group family follows it)."
  type        = string
  default     = "16"
}

variable "db_instance_class" {
  type    = string
  default = "db.m7g.large"
}

variable "db_allocated_storage" {
  description = "Initial storage in GiB."
  type        = number
  default     = 100
}

variable "db_max_allocated_storage" {
  description = "Storage autoscaling ceiling in GiB."
  type        = number
  default     = 1000
}

variable "db_backup_retention_days" {
  type    = number
  default = 14
}

variable "db_deletion_protection" {
  type    = bool
  default = true
}

# --- Redis -----------------------------------------------------------------------------------

variable "redis_engine_version" {
  type    = string
  default = "7.1"
}

variable "redis_node_type" {
  type    = string
  default = "cache.m7g.large"
}

# --- processes -------------------------------------------------------------------------------

variable "api_cpu" {
  type    = number
  default = 1024
}

variable "api_memory" {
  type    = number
  default = 2048
}

variable "api_processes_per_task" {
  description = "`bpo serve --workers N` inside each api task (scale out with tasks first)."
  type        = number
  default     = 1
}

variable "api_min_tasks" {
  type    = number
  default = 2
}

variable "api_max_tasks" {
  type    = number
  default = 10
}

variable "api_cpu_target" {
  description = "Average CPU (%) the api service is scaled to keep."
  type        = number
  default     = 60
}

variable "api_requests_per_task_target" {
  description = "Requests per minute per api task the service is scaled to keep (ALBRequestCountPerTarget)."
  type        = number
  default     = 3000
}

variable "worker_cpu" {
  type    = number
  default = 1024
}

variable "worker_memory" {
  type    = number
  default = 2048
}

variable "worker_processes_per_task" {
  type    = number
  default = 1
}

variable "worker_threads" {
  type    = number
  default = 8
}

variable "worker_min_tasks" {
  type    = number
  default = 1
}

variable "worker_max_tasks" {
  type    = number
  default = 10
}

variable "worker_scale_out_depth" {
  description = "Waiting jobs (default queue) above which one more worker task is added each minute; twice this adds two."
  type        = number
  default     = 500
}

variable "worker_scale_in_depth" {
  description = "Waiting jobs below which one worker task is removed (after 10 quiet minutes)."
  type        = number
  default     = 20
}

variable "database_pool_size" {
  description = "BPO_DATABASE_POOL_SIZE per process; tasks × processes × (pool + overflow) must stay under the database's max_connections."
  type        = number
  default     = 10
}

variable "log_level" {
  type    = string
  default = "INFO"
}

variable "log_retention_days" {
  type    = number
  default = 90
}

# --- secrets ---------------------------------------------------------------------------------

variable "enable_stripe" {
  description = "Store the Stripe keys below in Secrets Manager and pass them to the processes."
  type        = bool
  default     = false
}

variable "stripe_api_key" {
  type      = string
  default   = ""
  sensitive = true
}

variable "stripe_webhook_secret" {
  type      = string
  default   = ""
  sensitive = true
}

variable "secret_recovery_window_days" {
  description = "Days a deleted secret can still be restored (0 deletes at once)."
  type        = number
  default     = 7
}

# --- alarms ----------------------------------------------------------------------------------

variable "alarm_email" {
  description = "Address subscribed to the alarm topic (empty: subscribe something else to the topic)."
  type        = string
  default     = ""
}

variable "alarm_5xx_percent" {
  description = "Alarm when 5xx responses exceed this share of requests (%) for 5 minutes."
  type        = number
  default     = 1
}

variable "alarm_p95_latency_seconds" {
  type    = number
  default = 0.5
}

variable "alarm_queue_age_seconds" {
  description = "Alarm when the oldest waiting job of the default queue is older than this."
  type        = number
  default     = 300
}

variable "sla_queue" {
  description = "The queue of the SLA computation jobs; its oldest waiting job's age is the SLA job lag."
  type        = string
  default     = "sla"
}

variable "alarm_sla_job_lag_seconds" {
  type    = number
  default = 120
}
