# Every BPO_* secret in Secrets Manager (encrypted with the project's key), injected into the tasks
# as environment variables by ECS. Generated here, except the Stripe keys, which come from variables.

resource "random_password" "secret_key" {
  length  = 64
  special = false
}

resource "random_password" "platform_token" {
  length  = 48
  special = false
}

locals {
  db_host = "${aws_db_instance.main.address}:${aws_db_instance.main.port}"

  # Values of every secret there may be; secret_names says which exist.
  secret_values = {
    BPO_SECRET_KEY     = random_password.secret_key.result
    BPO_PLATFORM_TOKEN = random_password.platform_token.result
    # The application logs in as bpo_app itself; only the migrate task gets the owner's URL.
    BPO_DATABASE_URL           = "postgresql://bpo_app:${random_password.db_app.result}@${local.db_host}/bpo?ssl=require"
    BPO_MIGRATION_DATABASE_URL = "postgresql://bpo_owner:${random_password.db_owner.result}@${local.db_host}/bpo?ssl=require"
    BPO_REDIS_URL              = "rediss://:${random_password.redis_auth.result}@${aws_elasticache_replication_group.main.primary_endpoint_address}:6379/0"
    BPO_STRIPE_API_KEY         = var.stripe_api_key
    BPO_STRIPE_WEBHOOK_SECRET  = var.stripe_webhook_secret
  }

  # What every process gets (local.services); the owner's URL goes to migrate alone.
  app_secrets = concat(
    ["BPO_SECRET_KEY", "BPO_PLATFORM_TOKEN", "BPO_DATABASE_URL", "BPO_REDIS_URL"],
    var.enable_stripe ? ["BPO_STRIPE_API_KEY", "BPO_STRIPE_WEBHOOK_SECRET"] : [],
  )
  secret_names = toset(concat(local.app_secrets, ["BPO_MIGRATION_DATABASE_URL"]))
}

resource "aws_secretsmanager_secret" "bpo" {
  for_each                = local.secret_names
  name                    = "${local.name}/${each.key}"
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = var.secret_recovery_window_days
}

resource "aws_secretsmanager_secret_version" "bpo" {
  for_each      = local.secret_names
  secret_id     = aws_secretsmanager_secret.bpo[each.key].id
  secret_string = local.secret_values[each.key]
}
