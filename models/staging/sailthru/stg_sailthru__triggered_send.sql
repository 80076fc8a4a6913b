{{ engagement.stg_sailthru_email_event('triggered_send') }}
