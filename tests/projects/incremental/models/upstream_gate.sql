-- An upstream model of gs_companies. --vars '{break_upstream: true}' makes it fail, so
-- `dbt build` skips gs_companies (whose view, reading the seed only, stays in place).
{% if var('break_upstream', false) %}
select no_such_column from {{ ref('companies') }}
{% else %}
select 1 as ok
{% endif %}
