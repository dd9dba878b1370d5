-- One row per account: its most recent month of product usage.
with usage as (
    select * from {{ ref('stg_usage_monthly') }}
),

ranked as (
    select
        usage.*,
        row_number() over (partition by account_id order by usage_month desc) as recency_rank,
        max(usage_month) over () as latest_reported_month
    from usage
)

select
    usage_id,
    account_id,
    usage_month,
    active_users,
    logins,
    feature_adoption_pct,
    last_active_at,
    case when usage_month = latest_reported_month then true else false end as is_current_month
from ranked
where recency_rank = 1
