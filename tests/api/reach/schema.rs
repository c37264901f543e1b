//! The schema, as introspection tells it.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::json;

use crate::helpers::TestApp;

#[derive(Deserialize, Debug, Clone)]
pub(super) struct TypeRef {
    pub(super) kind: String,
    pub(super) name: Option<String>,
    #[serde(rename = "ofType")]
    pub(super) of_type: Option<Box<TypeRef>>,
}

impl TypeRef {
    pub(super) fn named(&self) -> &str {
        match &self.name {
            Some(n) => n,
            None => self.of_type.as_ref().expect("a wrapper wraps a type").named(),
        }
    }
    pub(super) fn required(&self) -> bool {
        self.kind == "NON_NULL"
    }
    pub(super) fn is_list(&self) -> bool {
        self.kind == "LIST" || self.of_type.as_ref().is_some_and(|t| t.is_list())
    }
}

#[derive(Deserialize, Debug, Clone)]
pub(super) struct InputValue {
    pub(super) name: String,
    #[serde(rename = "type")]
    pub(super) ty: TypeRef,
    #[serde(rename = "defaultValue")]
    pub(super) default: Option<String>,
}

impl InputValue {
    pub(super) fn needed(&self) -> bool {
        self.ty.required() && self.default.is_none()
    }
}

#[derive(Deserialize, Debug, Clone)]
pub(super) struct Field {
    pub(super) name: String,
    pub(super) args: Vec<InputValue>,
    #[serde(rename = "type")]
    pub(super) ty: TypeRef,
}

#[derive(Deserialize, Debug, Clone)]
pub(super) struct EnumValue {
    pub(super) name: String,
}

#[derive(Deserialize, Debug, Clone)]
pub(super) struct FullType {
    pub(super) kind: String,
    pub(super) name: String,
    pub(super) fields: Option<Vec<Field>>,
    #[serde(rename = "inputFields")]
    pub(super) input_fields: Option<Vec<InputValue>>,
    #[serde(rename = "enumValues")]
    pub(super) enum_values: Option<Vec<EnumValue>>,
}

pub(super) struct Schema {
    pub(super) types: HashMap<String, FullType>,
    pub(super) query: String,
    pub(super) mutation: String,
}

const INTROSPECTION: &str = "
fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } }
fragment V on __InputValue { name defaultValue type { ...T } }
{ __schema { queryType { name } mutationType { name }
  types { kind name enumValues { name } inputFields { ...V } fields { name args { ...V } type { ...T } } } } }";

impl Schema {
    pub(super) async fn load(app: &TestApp) -> Schema {
        let r = app.as_(&app.vendor, INTROSPECTION, json!({})).await;
        let s = &r.ok()["__schema"];
        let types: Vec<FullType> = serde_json::from_value(s["types"].clone()).expect("introspection types");
        Schema {
            types: types.into_iter().map(|t| (t.name.clone(), t)).collect(),
            query: s["queryType"]["name"].as_str().unwrap().to_owned(),
            mutation: s["mutationType"]["name"].as_str().unwrap().to_owned(),
        }
    }

    pub(super) fn ty(&self, name: &str) -> &FullType {
        &self.types[name]
    }

    pub(super) fn fields(&self, name: &str) -> &[Field] {
        self.ty(name).fields.as_deref().unwrap_or_default()
    }

    pub(super) fn is_leaf(&self, name: &str) -> bool {
        matches!(self.ty(name).kind.as_str(), "SCALAR" | "ENUM")
    }
}
