with source as (
    select * from {{ ref('raw_subscriptions') }}
)

select
    subscription_id,
    account_id,
    product_id,
    trim(relationship_name) as relationship_name,
    relationship_type,
    seats,
    arr,
    start_date,
    renewal_date,
    subscription_status
from source
