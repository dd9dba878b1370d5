with source as (
    select * from {{ ref('raw_products') }}
)

select
    product_id,
    product_name,
    product_family,
    list_price_per_seat
from source
