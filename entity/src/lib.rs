//! SeaORM entities of partnergraph, one file per table. No GraphQL and no business rules here: enumerated
//! columns are plain strings that `src/domain` parses into typed values.

pub mod audit_entry;
pub mod binding_change;
pub mod churn_record;
pub mod commission;
pub mod commission_rule;
pub mod crm_company;
pub mod crm_contact;
pub mod crm_contact_company;
pub mod crm_deal;
pub mod crm_deal_contact;
pub mod invitation;
pub mod invoice;
pub mod job_run;
pub mod lead_pool;
pub mod lead_pool_member;
pub mod lead_pool_member_change;
pub mod login_failure;
pub mod membership;
pub mod needs_assessment;
pub mod outbox_message;
pub mod partner_profile;
pub mod partner_status;
pub mod payment;
pub mod program;
pub mod program_category;
pub mod program_status;
pub mod promo_code;
pub mod promo_redemption;
pub mod stop_list_entry;
pub mod subscriber;
pub mod subscription;
pub mod support_code;
pub mod tariff;
pub mod task;
pub mod user;
