//! The `Decimal` scalar: money and percentages as strings with two decimal places, never floats.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};

use crate::domain::money::{format_minor, format_percent};
use crate::domain::{BasisPoints, Money};
use crate::error::AppError;

/// A decimal number as a string with two decimal places, e.g. `"25000.00"` (money) or `"25.00"`
/// (percent). Numbers in JSON are refused: they would pass through floating point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decimal(pub String);

#[Scalar(name = "Decimal")]
impl ScalarType for Decimal {
    fn parse(value: Value) -> InputValueResult<Self> {
        match value {
            Value::String(s) if s.len() <= 64 => Ok(Decimal(s)),
            Value::String(_) => Err(InputValueError::custom("a Decimal has at most 64 characters")),
            _ => Err(InputValueError::custom("a Decimal is a string such as \"25000.00\"")),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.clone())
    }
}

impl Decimal {
    pub fn money(minor: i64) -> Self {
        Decimal(format_minor(minor))
    }

    pub fn percent(bp: i32) -> Self {
        Decimal(format_percent(bp))
    }

    /// A money input, or `BAD_USER_INPUT` on `field`.
    pub fn to_money(&self, field: &str) -> Result<Money, AppError> {
        Money::parse(&self.0).map_err(AppError::input(field))
    }

    /// A percentage input, or `BAD_USER_INPUT` on `field`.
    pub fn to_rate(&self, field: &str) -> Result<BasisPoints, AppError> {
        BasisPoints::parse(&self.0).map_err(AppError::input(field))
    }
}

impl From<Money> for Decimal {
    fn from(m: Money) -> Self {
        Decimal(m.to_string())
    }
}

impl From<BasisPoints> for Decimal {
    fn from(r: BasisPoints) -> Self {
        Decimal(r.to_string())
    }
}

/// A calendar date, `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date(pub chrono::NaiveDate);

#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Date)
                .map_err(|_| InputValueError::custom("a Date is YYYY-MM-DD")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

/// A row's id as the `ID` scalar, written into the response straight from its UUID: no `String` is
/// built and then copied on the way (`ID` holds a `String` and clones it into the response).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uid(pub uuid::Uuid);

impl async_graphql::OutputType for Uid {
    fn type_name() -> std::borrow::Cow<'static, str> {
        <async_graphql::ID as async_graphql::OutputType>::type_name()
    }

    fn create_type_info(registry: &mut async_graphql::registry::Registry) -> String {
        <async_graphql::ID as async_graphql::OutputType>::create_type_info(registry)
    }

    async fn resolve(
        &self,
        _: &async_graphql::ContextSelectionSet<'_>,
        _: &async_graphql::Positioned<async_graphql::parser::types::Field>,
    ) -> async_graphql::ServerResult<Value> {
        Ok(Value::String(self.0.to_string()))
    }
}
