//! The inputs of tariffs, commission rules, invoices and payments, and their conversion into the
//! services' commands: amounts become [`Money`], rates [`BasisPoints`], periods [`PeriodMonths`] here,
//! so a service never sees a string or an out-of-range number.

use async_graphql::{ID, InputObject};
use chrono::{DateTime, Utc};

use super::context::{input_id, resource_id};
use super::enums::{PaymentChannel, Purchase};
use super::scalars::Decimal;
use crate::domain::PeriodMonths;
use crate::error::{AppError, AppResult};
use crate::service::billing::{NewInvoice, NewPayment};
use crate::service::ledger::QuoteRequest;
use crate::service::programs::RuleInput;
use crate::service::tariffs::{NewTariff, period_not_offered};

/// A tariff to create.
#[derive(InputObject)]
pub struct TariffInput {
    /// Unique; letters, digits, '-' and '_' (stored upper-case).
    pub code: String,
    pub name: String,
    pub program_code: String,
    /// One of the program's categories.
    pub category: String,
    pub monthly_price: Decimal,
    /// Allowed periods in months (1–36).
    pub periods: Vec<i32>,
    pub max_databases: Option<i32>,
    pub max_users: Option<i32>,
    pub max_sessions: Option<i32>,
    #[graphql(default = 0)]
    pub trial_days: i32,
    #[graphql(default = false)]
    pub partner_only: bool,
}

impl TryFrom<TariffInput> for NewTariff {
    type Error = AppError;

    fn try_from(input: TariffInput) -> AppResult<Self> {
        let monthly_price = input.monthly_price.to_money("monthlyPrice")?;
        let mut periods = input
            .periods
            .into_iter()
            .map(PeriodMonths::try_from)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| invalid_periods())?;
        periods.sort_unstable();
        periods.dedup();
        if periods.is_empty() {
            return Err(invalid_periods());
        }
        // The longest period of the monthly price must fit in kopecks, so that price × months never overflows.
        if monthly_price.checked_times(PeriodMonths::LONGEST).is_none() {
            return Err(AppError::bad_input("monthlyPrice", "AMOUNT_TOO_LARGE", "monthlyPrice: too large"));
        }
        Ok(NewTariff {
            code: input.code,
            name: input.name,
            program_code: input.program_code,
            category: input.category,
            monthly_price,
            periods,
            max_databases: input.max_databases,
            max_users: input.max_users,
            max_sessions: input.max_sessions,
            trial_days: input.trial_days,
            partner_only: input.partner_only,
        })
    }
}

fn invalid_periods() -> AppError {
    AppError::bad_input("periods", "INVALID_PERIODS", "periods: 1 to 36 months each, at least one")
}

/// A commission rule to set; (program, status, category, purchase) is its key: setting it again
/// replaces the rule in force.
#[derive(InputObject)]
pub struct CommissionRuleInput {
    pub program_code: String,
    /// A status of the program, or null for any.
    pub status: Option<String>,
    /// A category of the program, or null for any.
    pub category: Option<String>,
    #[graphql(default_with = "Purchase::Any")]
    pub purchase: Purchase,
    /// Months from the client's creation within which the rule applies; null: always.
    pub window_months: Option<i32>,
    /// Percent, e.g. "25.00".
    pub rate: Decimal,
}

/// The longest window of a rule: 20 years from the client's creation.
const MAX_WINDOW_MONTHS: i32 = 240;

impl TryFrom<CommissionRuleInput> for RuleInput {
    type Error = AppError;

    fn try_from(input: CommissionRuleInput) -> AppResult<Self> {
        let window_months = match input.window_months {
            Some(m) if !(1..=MAX_WINDOW_MONTHS).contains(&m) => {
                return Err(AppError::bad_input("windowMonths", "OUT_OF_RANGE", "windowMonths: 1 to 240"));
            }
            other => other.map(|m| m as u32),
        };
        Ok(RuleInput {
            program_code: input.program_code,
            status: input.status.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()),
            category: input.category.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()),
            purchase: input.purchase.into(),
            window_months,
            rate: input.rate.to_rate("rate")?,
        })
    }
}

/// A partner's invoice to its client.
#[derive(InputObject)]
pub struct InvoiceInput {
    pub client_id: ID,
    pub tariff_id: ID,
    pub period_months: i32,
    pub promo_code: Option<String>,
}

impl TryFrom<InvoiceInput> for NewInvoice {
    type Error = AppError;

    fn try_from(input: InvoiceInput) -> AppResult<Self> {
        Ok(NewInvoice {
            client: resource_id(&input.client_id)?,
            tariff: input_id(&input.tariff_id, "tariffId")?,
            period: paid_period(input.period_months)?,
            promo_code: input.promo_code,
        })
    }
}

/// The arguments of `commissionQuote` as the ledger's request.
pub fn quote_request(subscriber: &ID, tariff: &ID, period_months: i32, amount: &Decimal) -> AppResult<QuoteRequest> {
    let amount = amount.to_money("amount")?;
    let tariff = input_id(tariff, "tariffId")?;
    let client = resource_id(subscriber)?;
    Ok(QuoteRequest { client, tariff, period: paid_period(period_months)?, amount })
}

/// A payment as the billing system received it.
#[derive(InputObject)]
pub struct PaymentInput {
    pub subscriber_id: ID,
    pub tariff_id: ID,
    pub period_months: i32,
    /// What the billing system received (the truth), e.g. "12000.00".
    pub amount: Decimal,
    /// Default: now.
    pub paid_at: Option<DateTime<Utc>>,
    /// Default: PARTNER_INVOICE with an invoice, else DIRECT.
    pub channel: Option<PaymentChannel>,
    pub invoice_id: Option<ID>,
    pub promo_code: Option<String>,
    /// The billing system's id: recording the same id again returns the first payment.
    pub external_id: String,
}

impl TryFrom<PaymentInput> for NewPayment {
    type Error = AppError;

    fn try_from(input: PaymentInput) -> AppResult<Self> {
        Ok(NewPayment {
            subscriber: input_id(&input.subscriber_id, "subscriberId")?,
            tariff: input_id(&input.tariff_id, "tariffId")?,
            amount: input.amount.to_money("amount")?,
            paid_at: input.paid_at,
            channel: input.channel.map(Into::into),
            invoice: input.invoice_id.as_ref().map(|i| input_id(i, "invoiceId")).transpose()?,
            period: paid_period(input.period_months)?,
            promo_code: input.promo_code,
            external_id: input.external_id,
        })
    }
}

/// A period to pay or invoice: one no tariff can offer is refused as the tariff would refuse it.
pub fn paid_period(months: i32) -> AppResult<PeriodMonths> {
    PeriodMonths::try_from(months).map_err(|_| period_not_offered())
}
