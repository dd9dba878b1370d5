-- Gainsight Relationship: one row per product line (subscription) a company owns.
with subscriptions as (
    select * from {{ ref('stg_subscriptions') }}
),

accounts as (
    select * from {{ ref('stg_accounts') }}
),

products as (
    select * from {{ ref('stg_products') }}
)

select
    subscriptions.subscription_id,
    subscriptions.relationship_name,
    subscriptions.arr,
    subscriptions.renewal_date,
    subscriptions.subscription_status as status,
    accounts.company_name,
    subscriptions.relationship_type,
    products.product_name,
    subscriptions.seats
from subscriptions
inner join accounts
    on subscriptions.account_id = accounts.account_id
inner join products
    on subscriptions.product_id = products.product_id
