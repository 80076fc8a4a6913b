{{ engagement.stg_sailthru_lookup(
    'campaign', 'campaign_id',
    ['campaign_id', 'client_id', 'create_time', 'name', 'subject', 'from_name', 'from_email', 'list_name',
     'schedule_time', 'start_time', 'template_id', 'label_ids'],
    time_columns=['create_time', 'schedule_time', 'start_time']) }}
