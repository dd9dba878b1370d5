with source as (
    select * from {{ ref('raw_usage_monthly') }}
)

select
    {{ dbt.concat([
        "cast(account_id as " ~ dbt.type_string() ~ ")",
        "'-'",
        "substring(cast(usage_month as " ~ dbt.type_string() ~ "), 1, 7)",
    ]) }} as usage_id,
    account_id,
    usage_month,
    active_users,
    logins,
    feature_adoption_pct,
    last_active_at
from source
