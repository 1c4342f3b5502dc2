output "api_url" {
  description = "Where the API answers (point the certificate's host name at alb_dns_name)."
  value       = var.api_domain != "" ? "https://${var.api_domain}" : "https://${aws_lb.main.dns_name}"
}

output "alb_dns_name" {
  value = aws_lb.main.dns_name
}

output "alb_zone_id" {
  description = "For a Route 53 alias record."
  value       = aws_lb.main.zone_id
}

output "ecr_repository_url" {
  description = "Push the image here; pass <url>@<digest> (or :<tag>) as var.image."
  value       = aws_ecr_repository.app.repository_url
}

output "ecs_cluster" {
  value = aws_ecs_cluster.main.name
}

output "migrate_task_definition" {
  value = aws_ecs_task_definition.service["migrate"].arn
}

output "run_migrate_command" {
  description = "Runs `bpo migrate` once, as the schema owner; run it before each deploy."
  value = join(" ", [
    "aws ecs run-task --region ${var.region} --cluster ${aws_ecs_cluster.main.name}",
    "--launch-type FARGATE --task-definition ${aws_ecs_task_definition.service["migrate"].arn}",
    "--network-configuration 'awsvpcConfiguration={subnets=[${join(",", aws_subnet.private[*].id)}],securityGroups=[${aws_security_group.app.id}],assignPublicIp=DISABLED}'",
  ])
}

output "private_subnet_ids" {
  value = aws_subnet.private[*].id
}

output "app_security_group_id" {
  value = aws_security_group.app.id
}

output "db_endpoint" {
  value = aws_db_instance.main.address
}

output "redis_endpoint" {
  value = aws_elasticache_replication_group.main.primary_endpoint_address
}

output "secret_arns" {
  description = "Secrets Manager ARNs of the BPO_* secrets, by variable name."
  value       = { for name, secret in aws_secretsmanager_secret.bpo : name => secret.arn }
}

output "alarm_topic_arn" {
  value = aws_sns_topic.alarms.arn
}

output "metrics_namespace" {
  value = local.metrics_namespace
}
