-- The synced model: a view over the seed the tests rewrite.
-- depends_on: {{ ref('upstream_gate') }}
-- --vars '{break_gs: true}' makes it fail in dbt (the previous view stays in place).
select
    name as company_name,
    arr,
    employees,
    renewal_date,
    industry,
    users
from {{ ref('companies') }}
{% if var('break_gs', false) %}
where no_such_column = 1
{% endif %}
