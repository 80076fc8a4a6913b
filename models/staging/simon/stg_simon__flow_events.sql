with

source as (

    {# custom-context columns are not listed: they go to _extra_fields. `_control_flow_id` / `_control_flow_name`
       are lineage the loader copies from the data file's control file (NULL where a loader predates them) #}
    {{ engagement.raw_source(
        'simon', 'flow_events',
        ['identifier', 'timestamp', 'segment_name', 'flow_name', 'action', 'variant', 'operation',
         '_control_flow_id', '_control_flow_name']) }}

),

renamed as (

    select
        {# the vendor gives no event id: the whole row is the identity (re-sent files are exact copies) #}
        {{ engagement.surrogate_key([
            "lower(trim(identifier))", 'trim(' ~ adapter.quote('timestamp') ~ ')', "nullif(trim(segment_name), '')",
            "nullif(trim(flow_name), '')", "nullif(trim(action), '')", "nullif(trim(variant), '')",
            "lower(trim(operation))", '_extra_fields']) }} as row_hash,
        {{ engagement.email_sha256('identifier') }} as email_sha256,
        case
            when {{ engagement.email_sha256('identifier') }} is null then nullif(trim(identifier), '')
        end as other_identifier,
        {{ engagement.text_to_utc_timestamp(adapter.quote('timestamp'), 'engagement__simon_timezone') }}
            as occurred_at,
        nullif(trim(segment_name), '') as segment_name,
        coalesce(nullif(trim(flow_name), ''), nullif(trim(_control_flow_name), '')) as flow_name,
        nullif(trim(_control_flow_id), '') as flow_id,
        {# the document: a file holds, for each contact, one entry for the data feed (no action) and one
           for each applicable flow action #}
        nullif(nullif(trim(action), ''), 'null') as action,
        nullif(nullif(trim(variant), ''), 'null') as variant,
        lower(trim(operation)) as operation,
        _extra_fields as extra_properties,
        _source_uri as source_uri,
        _source_row as source_row,
        _loaded_at as loaded_at

    from source

)

select * from renamed
