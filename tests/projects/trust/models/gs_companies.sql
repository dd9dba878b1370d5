select name as company_name, arr from {{ ref('companies') }}
