# Logs of every process, metrics from the scheduler's queue reports, and the alarms.

resource "aws_cloudwatch_log_group" "service" {
  for_each          = local.services
  name              = "/ecs/${local.name}/${each.key}"
  retention_in_days = var.log_retention_days
}

# Not encrypted with a KMS key: CloudWatch cannot publish to a topic under the AWS-managed SNS key,
# and alarm notifications carry no tenant data.
resource "aws_sns_topic" "alarms" {
  name = "${local.name}-alarms"
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count     = var.alarm_email == "" ? 0 : 1
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

# Every 30 s the scheduler logs one JSON line per queue:
#   {"event": "queue_stats", "queue": "default", "depth": 12, "oldest_age_s": 3.4, …}
# (src/bpo/delivery/queues.py). These filters make them metrics, one per queue.
resource "aws_cloudwatch_log_metric_filter" "queue_depth" {
  name           = "${local.name}-queue-depth"
  log_group_name = aws_cloudwatch_log_group.service["scheduler"].name
  pattern        = "{ $.event = \"queue_stats\" }"

  metric_transformation {
    name       = "QueueDepth"
    namespace  = local.metrics_namespace
    value      = "$.depth"
    unit       = "Count"
    dimensions = { Queue = "$.queue" }
  }
}

resource "aws_cloudwatch_log_metric_filter" "queue_age" {
  name           = "${local.name}-queue-age"
  log_group_name = aws_cloudwatch_log_group.service["scheduler"].name
  pattern        = "{ $.event = \"queue_stats\" }"

  metric_transformation {
    name       = "OldestMessageAgeSeconds"
    namespace  = local.metrics_namespace
    value      = "$.oldest_age_s"
    unit       = "Seconds"
    dimensions = { Queue = "$.queue" }
  }
}

# --- worker scaling ------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "queue_backlog" {
  alarm_name          = "${local.name}-queue-backlog"
  alarm_description   = "Jobs are waiting: add worker tasks."
  namespace           = local.metrics_namespace
  metric_name         = "QueueDepth"
  dimensions          = { Queue = "default" }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 2
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.worker_scale_out_depth
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_appautoscaling_policy.worker_out.arn]
}

resource "aws_cloudwatch_metric_alarm" "queue_idle" {
  alarm_name          = "${local.name}-queue-idle"
  alarm_description   = "Hardly any jobs waiting: remove worker tasks."
  namespace           = local.metrics_namespace
  metric_name         = "QueueDepth"
  dimensions          = { Queue = "default" }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 10
  comparison_operator = "LessThanThreshold"
  threshold           = var.worker_scale_in_depth
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_appautoscaling_policy.worker_in.arn]
}

# --- alarms to people ----------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "api_5xx_rate" {
  alarm_name          = "${local.name}-api-5xx-rate"
  alarm_description   = "More than ${var.alarm_5xx_percent}% of API requests answered 5xx for 5 minutes."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_5xx_percent
  evaluation_periods  = 5
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  metric_query {
    id          = "rate"
    expression  = "IF(requests > 0, 100 * (FILL(target_5xx, 0) + FILL(elb_5xx, 0)) / requests, 0)"
    label       = "5xx %"
    return_data = true
  }

  metric_query {
    id = "requests"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "RequestCount"
      dimensions  = { LoadBalancer = aws_lb.main.arn_suffix }
      stat        = "Sum"
      period      = 60
    }
  }

  metric_query {
    id = "target_5xx"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_Target_5XX_Count"
      dimensions  = { LoadBalancer = aws_lb.main.arn_suffix }
      stat        = "Sum"
      period      = 60
    }
  }

  metric_query {
    id = "elb_5xx"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_ELB_5XX_Count"
      dimensions  = { LoadBalancer = aws_lb.main.arn_suffix }
      stat        = "Sum"
      period      = 60
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "api_p95_latency" {
  alarm_name          = "${local.name}-api-p95-latency"
  alarm_description   = "API p95 response time above ${var.alarm_p95_latency_seconds} s for 5 minutes."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "TargetResponseTime"
  dimensions          = { LoadBalancer = aws_lb.main.arn_suffix, TargetGroup = aws_lb_target_group.api.arn_suffix }
  extended_statistic  = "p95"
  period              = 60
  evaluation_periods  = 5
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_p95_latency_seconds
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "queue_age" {
  alarm_name          = "${local.name}-queue-age"
  alarm_description   = "The oldest waiting job of the default queue is older than ${var.alarm_queue_age_seconds} s: workers are behind or down."
  namespace           = local.metrics_namespace
  metric_name         = "OldestMessageAgeSeconds"
  dimensions          = { Queue = "default" }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_queue_age_seconds
  # No report at all means the scheduler is down: that is an alarm too.
  treat_missing_data = "breaching"
  alarm_actions      = [aws_sns_topic.alarms.arn]
  ok_actions         = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "sla_job_lag" {
  alarm_name          = "${local.name}-sla-job-lag"
  alarm_description   = "SLA computation is more than ${var.alarm_sla_job_lag_seconds} s behind (oldest waiting job of the ${var.sla_queue} queue)."
  namespace           = local.metrics_namespace
  metric_name         = "OldestMessageAgeSeconds"
  dimensions          = { Queue = var.sla_queue }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_sla_job_lag_seconds
  # The queue is reported only while it has had jobs.
  treat_missing_data = "notBreaching"
  alarm_actions      = [aws_sns_topic.alarms.arn]
  ok_actions         = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "db_cpu" {
  alarm_name          = "${local.name}-db-cpu"
  alarm_description   = "PostgreSQL CPU above 80% for 10 minutes."
  namespace           = "AWS/RDS"
  metric_name         = "CPUUtilization"
  dimensions          = { DBInstanceIdentifier = aws_db_instance.main.identifier }
  statistic           = "Average"
  period              = 60
  evaluation_periods  = 10
  comparison_operator = "GreaterThanThreshold"
  threshold           = 80
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "db_free_storage" {
  alarm_name          = "${local.name}-db-free-storage"
  alarm_description   = "PostgreSQL has less than 10 GiB free."
  namespace           = "AWS/RDS"
  metric_name         = "FreeStorageSpace"
  dimensions          = { DBInstanceIdentifier = aws_db_instance.main.identifier }
  statistic           = "Minimum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "LessThanThreshold"
  threshold           = 10 * 1024 * 1024 * 1024
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}
