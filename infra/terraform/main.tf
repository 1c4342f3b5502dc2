locals {
  name              = "${var.name}-${var.environment}"
  metrics_namespace = "BPO/${var.environment}"
  api_port          = 8000

  # The processes of the one image: same image, secrets, settings and log setup; different commands.
  # `migrate` is a task definition only, run once before each deploy (README.md).
  services = {
    api = {
      command = ["serve", "--host", "0.0.0.0", "--port", tostring(local.api_port), "--workers", tostring(var.api_processes_per_task)]
      cpu     = var.api_cpu
      memory  = var.api_memory
      secrets = local.app_secrets
    }
    worker = {
      command = ["worker", "--processes", tostring(var.worker_processes_per_task), "--threads", tostring(var.worker_threads)]
      cpu     = var.worker_cpu
      memory  = var.worker_memory
      secrets = local.app_secrets
    }
    scheduler = {
      command = ["scheduler"]
      cpu     = 256
      memory  = 512
      secrets = local.app_secrets
    }
    migrate = {
      command = ["migrate"]
      cpu     = 512
      memory  = 1024
      secrets = concat(local.app_secrets, ["BPO_MIGRATION_DATABASE_URL"])
    }
  }

  # Plain settings; everything secret comes from Secrets Manager (secrets.tf).
  environment = {
    BPO_ENVIRONMENT              = "production"
    BPO_LOG_FORMAT               = "json"
    BPO_LOG_LEVEL                = var.log_level
    BPO_DATABASE_POOL_SIZE       = tostring(var.database_pool_size)
    BPO_DATABASE_STATEMENT_CACHE = "true"
  }
}

# One customer-managed key for the data at rest: database, Redis, secrets, image repository.
resource "aws_kms_key" "main" {
  description             = "${local.name}: data at rest"
  enable_key_rotation     = true
  deletion_window_in_days = 30
}

resource "aws_kms_alias" "main" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.main.key_id
}

resource "aws_ecr_repository" "app" {
  name                 = local.name
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.main.arn
  }
}

resource "aws_ecr_lifecycle_policy" "app" {
  repository = aws_ecr_repository.app.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Keep the 50 most recent images"
      selection = {
        tagStatus   = "any"
        countType   = "imageCountMoreThan"
        countNumber = 50
      }
      action = { type = "expire" }
    }]
  })
}
