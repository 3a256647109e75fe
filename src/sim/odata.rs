//! The subset of `OData` v4 `$filter` that `/api/machineactions` documents (contract §5):
//! comparisons, `and`/`or`/`not`, parentheses, `startswith` and `in (…)`, on six properties
//! whose names are case-insensitive, with unquoted datetime literals.

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Property {
    Id,
    Status,
    MachineId,
    Type,
    Requestor,
    CreationDateTimeUtc,
    /// The machines API's own properties (contract §10a).
    ComputerDnsName,
    HealthStatus,
    OsPlatform,
}

impl Property {
    fn parse(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "id" => Self::Id,
            "status" => Self::Status,
            "machineid" => Self::MachineId,
            "type" => Self::Type,
            "requestor" => Self::Requestor,
            "creationdatetimeutc" => Self::CreationDateTimeUtc,
            "computerdnsname" => Self::ComputerDnsName,
            "healthstatus" => Self::HealthStatus,
            "osplatform" => Self::OsPlatform,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Text(String),
    Time(DateTime<Utc>),
    Null,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare(Property, Comparison, Literal),
    In(Property, Vec<Literal>),
    StartsWith(Property, String),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}

/// What a filter is evaluated against: the action's properties as the API shows them.
pub trait Filterable {
    fn text(&self, property: Property) -> Option<&str>;
    fn created(&self) -> DateTime<Utc>;
}

impl Filter {
    pub fn matches(&self, row: &impl Filterable) -> bool {
        match self {
            Self::And(a, b) => a.matches(row) && b.matches(row),
            Self::Or(a, b) => a.matches(row) || b.matches(row),
            Self::Not(inner) => !inner.matches(row),
            Self::StartsWith(property, prefix) => row.text(*property).is_some_and(|value| {
                value
                    .to_ascii_lowercase()
                    .starts_with(&prefix.to_ascii_lowercase())
            }),
            Self::In(property, values) => values
                .iter()
                .any(|value| compare(row, *property, Comparison::Eq, value)),
            Self::Compare(property, op, value) => compare(row, *property, *op, value),
        }
    }
}

fn compare(row: &impl Filterable, property: Property, op: Comparison, value: &Literal) -> bool {
    use std::cmp::Ordering;
    let ordering: Option<Ordering> = match (property, value) {
        (Property::CreationDateTimeUtc, Literal::Time(time)) => Some(row.created().cmp(time)),
        (Property::CreationDateTimeUtc, Literal::Text(text)) => {
            parse_time(text).ok().map(|time| row.created().cmp(&time))
        }
        (_, Literal::Null) => {
            let is_null = row.text(property).is_none();
            return match op {
                Comparison::Eq => is_null,
                Comparison::Ne => !is_null,
                _ => false,
            };
        }
        // Enum and id comparisons are case-insensitive in practice; being liberal here costs
        // nothing and matches what the portal-generated queries rely on.
        (_, Literal::Text(text)) => row
            .text(property)
            .map(|actual| actual.to_ascii_lowercase().cmp(&text.to_ascii_lowercase())),
        (_, Literal::Time(time)) => row.text(property).map(|actual| {
            actual.cmp(
                time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
                    .as_str(),
            )
        }),
    };
    let Some(ordering) = ordering else {
        return op == Comparison::Ne;
    };
    match op {
        Comparison::Eq => ordering == Ordering::Equal,
        Comparison::Ne => ordering != Ordering::Equal,
        Comparison::Gt => ordering == Ordering::Greater,
        Comparison::Ge => ordering != Ordering::Less,
        Comparison::Lt => ordering == Ordering::Less,
        Comparison::Le => ordering != Ordering::Greater,
    }
}

pub fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(|date| date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
        })
        .map_err(|_| format!("'{text}' is not a valid DateTimeOffset literal"))
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Open,
    Close,
    Comma,
}

fn tokenize(input: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            ',' => {
                tokens.push(Token::Comma);
                i += 1;
            }
            '\'' => {
                let mut text = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated string literal".into()),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            text.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(other) => {
                            text.push(*other);
                            i += 1;
                        }
                    }
                }
                tokens.push(Token::Text(text));
            }
            _ => {
                let start = i;
                while i < chars.len() && !chars[i].is_whitespace() && !"(),'".contains(chars[i]) {
                    i += 1;
                }
                tokens.push(Token::Word(chars[start..i].iter().collect()));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    position: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.position).cloned();
        self.position += 1;
        token
    }

    fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(word)) if word.eq_ignore_ascii_case(keyword))
    }

    fn expect(&mut self, wanted: &Token, what: &str) -> Result<(), String> {
        match self.next() {
            Some(ref token) if token == wanted => Ok(()),
            Some(other) => Err(format!("expected {what} but found {}", describe(&other))),
            None => Err(format!("expected {what} but the expression ended")),
        }
    }

    fn or_expression(&mut self) -> Result<Filter, String> {
        let mut left = self.and_expression()?;
        while self.peek_keyword("or") {
            self.position += 1;
            let right = self.and_expression()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expression(&mut self) -> Result<Filter, String> {
        let mut left = self.unary()?;
        while self.peek_keyword("and") {
            self.position += 1;
            let right = self.unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, String> {
        if self.peek_keyword("not") {
            self.position += 1;
            return Ok(Filter::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn property(&mut self) -> Result<Property, String> {
        match self.next() {
            Some(Token::Word(name)) => Property::parse(&name).ok_or_else(|| {
                format!(
                    "Could not find a property named '{name}' on type \
                     'microsoft.windowsDefenderATP.api.MachineAction' that can be filtered"
                )
            }),
            Some(other) => Err(format!(
                "expected a property name but found {}",
                describe(&other)
            )),
            None => Err("expected a property name but the expression ended".into()),
        }
    }

    fn literal(&mut self) -> Result<Literal, String> {
        match self.next() {
            Some(Token::Text(text)) => Ok(Literal::Text(text)),
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("null") => Ok(Literal::Null),
            Some(Token::Word(word)) if word.starts_with(|c: char| c.is_ascii_digit()) => {
                parse_time(&word).map(Literal::Time)
            }
            Some(other) => Err(format!("expected a literal but found {}", describe(&other))),
            None => Err("expected a literal but the expression ended".into()),
        }
    }

    fn primary(&mut self) -> Result<Filter, String> {
        if matches!(self.peek(), Some(Token::Open)) {
            self.position += 1;
            let inner = self.or_expression()?;
            self.expect(&Token::Close, "')'")?;
            return Ok(inner);
        }
        if self.peek_keyword("startswith") {
            self.position += 1;
            self.expect(&Token::Open, "'(' after startswith")?;
            let property = self.property()?;
            self.expect(&Token::Comma, "','")?;
            let Literal::Text(prefix) = self.literal()? else {
                return Err("startswith needs a string literal".into());
            };
            self.expect(&Token::Close, "')'")?;
            return Ok(Filter::StartsWith(property, prefix));
        }
        let property = self.property()?;
        let operator = match self.next() {
            Some(Token::Word(word)) => word.to_ascii_lowercase(),
            Some(other) => {
                return Err(format!(
                    "expected an operator but found {}",
                    describe(&other)
                ));
            }
            None => return Err("expected an operator but the expression ended".into()),
        };
        let op = match operator.as_str() {
            "eq" => Comparison::Eq,
            "ne" => Comparison::Ne,
            "gt" => Comparison::Gt,
            "ge" => Comparison::Ge,
            "lt" => Comparison::Lt,
            "le" => Comparison::Le,
            "in" => {
                self.expect(&Token::Open, "'(' after in")?;
                let mut values = vec![self.literal()?];
                while matches!(self.peek(), Some(Token::Comma)) {
                    self.position += 1;
                    values.push(self.literal()?);
                }
                self.expect(&Token::Close, "')'")?;
                return Ok(Filter::In(property, values));
            }
            other => return Err(format!("unknown operator '{other}'")),
        };
        let value = self.literal()?;
        Ok(Filter::Compare(property, op, value))
    }
}

fn describe(token: &Token) -> String {
    match token {
        Token::Word(word) => format!("'{word}'"),
        Token::Text(text) => format!("string '{text}'"),
        Token::Open => "'('".into(),
        Token::Close => "')'".into(),
        Token::Comma => "','".into(),
    }
}

/// Parses a `$filter` value; the error text is what the simulator puts in its `ODataError`.
pub fn parse_filter(input: &str) -> Result<Filter, String> {
    let tokens = tokenize(input)?;
    if tokens.is_empty() {
        return Err("the $filter expression is empty".into());
    }
    let mut parser = Parser {
        tokens,
        position: 0,
    };
    let filter = parser.or_expression()?;
    if let Some(extra) = parser.peek() {
        return Err(format!(
            "syntax error: unexpected {} at position {}",
            describe(extra),
            parser.position
        ));
    }
    Ok(filter)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Row {
        status: &'static str,
        machine: &'static str,
        created: &'static str,
    }

    impl Filterable for Row {
        fn text(&self, property: Property) -> Option<&str> {
            match property {
                Property::Status => Some(self.status),
                Property::MachineId => Some(self.machine),
                Property::Type => Some("LiveResponse"),
                Property::Id => Some("abc"),
                Property::Requestor => Some("analyst@contoso.com"),
                Property::CreationDateTimeUtc => Some(self.created),
                Property::ComputerDnsName | Property::HealthStatus | Property::OsPlatform => None,
            }
        }
        fn created(&self) -> DateTime<Utc> {
            parse_time(self.created).unwrap_or_default()
        }
    }

    const ROW: Row = Row {
        status: "Succeeded",
        machine: "f46b9bb2",
        created: "2026-11-20T10:00:00Z",
    };

    #[test]
    fn documented_forms_match() {
        for (filter, expected) in [
            ("status eq 'Succeeded'", true),
            ("Status eq 'succeeded'", true),
            ("status ne 'Succeeded'", false),
            ("creationDateTimeUtc ge 2026-11-19T00:00:00Z", true),
            ("CreationDateTimeUtc gt 2026-11-21T00:00:00.1234567Z", false),
            ("creationDateTimeUtc lt '2026-11-21T00:00:00Z'", true),
            ("status in ('Pending','Succeeded')", true),
            ("startswith(machineId,'f46b')", true),
            (
                "(status eq 'Failed' or type eq 'LiveResponse') and not (machineId eq 'x')",
                true,
            ),
            ("requestor eq 'it''s'", false),
            ("status eq null", false),
        ] {
            let parsed = parse_filter(filter).unwrap_or_else(|error| panic!("{filter}: {error}"));
            assert_eq!(parsed.matches(&ROW), expected, "{filter}");
        }
    }

    #[test]
    fn malformed_filters_name_the_problem() {
        for (filter, needle) in [
            ("status eq", "ended"),
            ("status equals 'x'", "unknown operator 'equals'"),
            ("colour eq 'red'", "property named 'colour'"),
            ("status eq 'open", "unterminated"),
            ("(status eq 'x'", "')'"),
            ("status eq 'x' 'y'", "unexpected"),
            (
                "creationDateTimeUtc ge 2026-13-45T00:00:00Z",
                "DateTimeOffset",
            ),
            ("", "empty"),
        ] {
            let error = parse_filter(filter).expect_err(filter);
            assert!(error.contains(needle), "{filter}: {error}");
        }
    }
}
